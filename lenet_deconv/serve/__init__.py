"""`lenet-deconv serve`: a local web page to draw a digit and watch the deconvnet run backwards.

``explorer`` holds the computations (one Engine, the test set, the top-9 table),
``steps`` the step-through of one projection, ``schemas`` what a request may
hold, ``app`` the FastAPI routes, ``topcache`` the on-disk top-9 cache and
``static/`` the page itself (plain HTML, CSS and JavaScript, no build step).
"""
