"""`python train.py ...` is `attnseg-train ...`: see conf/train.yaml and `attnseg-train --help`."""

from attnseg.tasks.train import main

if __name__ == "__main__":
    main()
