//! RustyMail operator.
