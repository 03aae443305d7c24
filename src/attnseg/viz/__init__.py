"""Pictures with PIL and numpy only: masks, heat-maps, attention grids, confusion matrices."""
