VALUE = "from"
