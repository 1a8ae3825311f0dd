VALUE = "used"
