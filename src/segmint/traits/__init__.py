"""Traits beyond identify calls: computed, scored and learned values, published as traits."""
