"""Card templates (Jinja2), shipped as the package resource `vintix_data.cards`."""
