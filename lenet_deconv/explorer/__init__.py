"""The explorer: a static page that computes LeNet-5 and its deconvnet itself (static/lenet.js).

``site`` builds its files (the page, the model, test-set data); ``server``
serves them on this machine with the standard library's http.server.
"""
