def other(event, context):
    return None
