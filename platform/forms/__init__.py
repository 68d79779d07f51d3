"""Form documents: default forms, layout, coercion of submitted values, validation."""
