"""`python -m llmesh.cli` is meshctl."""
from llmesh.cli.main import main

if __name__ == "__main__":
    main()
