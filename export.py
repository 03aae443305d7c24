"""`python export.py ...` is `attnseg-export ...`: see conf/export.yaml and `attnseg-export --help`."""

from attnseg.tasks.export import main

if __name__ == "__main__":
    main()
