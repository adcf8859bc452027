"""`python -m bot` is the same as the `spren` command."""

from bot.cli.main import main

main()
