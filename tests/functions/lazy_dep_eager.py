VALUE = "eager"
