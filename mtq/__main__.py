from mtq.entry import main

main()
