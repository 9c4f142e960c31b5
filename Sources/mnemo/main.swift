import Driver

Mnemo.main()
