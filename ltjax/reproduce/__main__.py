"""`python -m ltjax.reproduce`: see `ltjax.reproduce.main`."""

from ltjax.reproduce import main

main.main()
