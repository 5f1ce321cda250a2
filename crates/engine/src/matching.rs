//! Normalising what learners type and matching it against choices,
//! keywords, regular expressions and number ranges.
