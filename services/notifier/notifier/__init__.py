"""The notifier service. Tells the right person, once, on their channel."""
