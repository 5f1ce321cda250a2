//! `application/x-www-form-urlencoded` bodies, as Twilio and Africa's
//! Talking send and take them.

/// Form parameters as received or sent, in order.
pub type Params = Vec<(String, String)>;

/// Reads an `application/x-www-form-urlencoded` body.
pub fn parse_form(body: &[u8]) -> Params {
    form_urlencoded::parse(body).into_owned().collect()
}

/// Writes an `application/x-www-form-urlencoded` body.
pub fn encode_form<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// The first value of `name` (names are case-sensitive).
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
