//! The caller of a REST request as the mail service sees it: the guard's
//! [`Caller`], the `User-Agent` and the request path.

use std::net::{IpAddr, Ipv4Addr};

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{
    server::guard::{Caller, user_agent},
    service::{Accounting, Call},
};

/// A request's [`Call`]: the REST API has charged the request's budgets
/// and writes its `data_access` line (with the status code) itself.
pub struct RestCall(pub Call);

impl<S: Send + Sync> FromRequestParts<S> for RestCall {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Without the guard (routes served bare) the caller is anonymous.
        let caller = parts.extensions.get::<Caller>();
        Ok(Self(Call {
            identity: caller.and_then(|c| c.identity.clone()),
            client_ip: caller.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.client_ip),
            user_agent: user_agent(&parts.headers).map(str::to_owned),
            resource: parts.uri.path().to_owned(),
            accounting: Accounting::Transport,
        }))
    }
}
