//! Query strings parsed with serde (percent-decoding included), into a typed
//! struct; a bad value is a 400 problem naming the parameter.

use std::future::{ready, Ready};

use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::ApiError;

/// The request's query string as `T` (see the module docs).
#[derive(Debug)]
pub struct Query<T>(pub T);

/// Parses `query` (without the `?`) into `T`, naming the offending parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let deserializer =
        serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = (field != ".").then_some(field);
        let detail = match &field {
            Some(name) => format!("query parameter `{name}`: {}", e.inner()),
            None => format!("query string: {}", e.inner()),
        };
        ApiError::bad_request("invalid_query", field, detail)
    })
}

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(parse_query(req.query_string()).map(Query))
    }
}

/// For handlers still on `actix_web::web::Query`: its errors become problems too.
pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|err, _| {
        ApiError::bad_request("invalid_query", None, err.to_string()).into()
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Page {
        after: Option<u64>,
        token: Option<String>,
    }

    #[test]
    fn values_are_percent_decoded_and_typed() {
        let page: Page = parse_query("after=5&token=a%2Eb%2Bc").unwrap();
        assert_eq!(page.after, Some(5));
        assert_eq!(page.token.as_deref(), Some("a.b+c"));
        let empty: Page = parse_query("").unwrap();
        assert_eq!(
            empty,
            Page {
                after: None,
                token: None
            }
        );
    }

    #[test]
    fn a_bad_value_names_its_parameter() {
        let ApiError::BadRequest { field, code, .. } = parse_query::<Page>("after=-1").unwrap_err()
        else {
            panic!("not a 400")
        };
        assert_eq!((code, field.as_deref()), ("invalid_query", Some("after")));
    }
}
