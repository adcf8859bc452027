"""`python -m bot` is the same as the `spren` command."""

from bot.cli import main

main()
