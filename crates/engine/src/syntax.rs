//! A YAML tree in which every node knows its source span.
