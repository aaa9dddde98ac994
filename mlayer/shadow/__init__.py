"""Shadow testing: a candidate model predicts beside the live one in the same function, its
answers compared and thrown away (publish-model --shadow, `mlayer shadow status|promote|stop`).

``state`` (the state file and the function's variables), ``fit`` (does the candidate fit beside
the live model, pure), ``attach`` (publish-model --shadow), ``readings`` (what the function's
EMF metrics say), ``commands`` (status, promote, stop).
"""
