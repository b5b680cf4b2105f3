"""`python -m charrnn`: the same entry as the console script (allocator settings first)."""

from charrnn.cli.entry import main

main()
