print("hdiov-ktest")
