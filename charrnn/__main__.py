from charrnn.entry import main

main()
