"""`python eval.py ...` is `attnseg-eval ...`: see conf/eval.yaml and `attnseg-eval --help`."""

from attnseg.tasks.evaluate import main

if __name__ == "__main__":
    main()
