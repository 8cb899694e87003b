print("ilql")
