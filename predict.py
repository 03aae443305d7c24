"""`python predict.py ...` is `attnseg-predict ...`: see conf/predict.yaml and `attnseg-predict --help`."""

from attnseg.tasks.predict import main

if __name__ == "__main__":
    main()
