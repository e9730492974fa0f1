//! MCP fixtures: the official SDKs as clients ([`sdk`]) and a TCP
//! round-robin balancer for two data planes behind one address
//! ([`balancer`]).

pub mod balancer;
pub mod sdk;
