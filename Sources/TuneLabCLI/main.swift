print("tunelab")
