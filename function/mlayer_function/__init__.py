"""mlayer's prediction function: what runs on Lambda (handler ``mlayer_function.handler.handler``).

A package, not loose modules: Lambda puts the function's code (/var/task) before the layers'
/opt/python on sys.path, so top-level modules named ``batch`` or ``handler`` here would shadow a
user's module of the same name shipped with ``publish-model --code``. Only ``mlayer_function``
is taken. Importing the package loads nothing; importing ``.handler`` is the cold start.
"""

import time

STARTED = time.perf_counter()  # the package's first line: where the function's imports begin
