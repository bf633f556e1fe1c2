"""The factory's routes, one router per concern; `factory.app.create_app` includes them."""
