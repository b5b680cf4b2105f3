"""Looking inside a model: every unit's state after each character of a text, the model's surprise
and its guesses in each character's place, the units that track simple text features, and the page that
shows them all (`charrnn visualize`)."""
