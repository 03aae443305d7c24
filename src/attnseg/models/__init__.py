from attnseg.models.backbone import TimmBackbone
from attnseg.models.segmentor import Segmentor

__all__ = ["Segmentor", "TimmBackbone"]
