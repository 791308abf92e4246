"""`python -m digest.config`: print the example config (regenerates config/digest.example.toml)."""

from digest.config import example_config

if __name__ == "__main__":
    print(example_config(), end="")
