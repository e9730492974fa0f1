//! The ServiceAccount and the Service of the data plane.

use k8s_openapi::{
    api::core::v1::{Service, ServiceAccount, ServicePort, ServiceSpec},
    apimachinery::pkg::util::intstr::IntOrString,
};

use super::meta::{Component, Owner};

/// The HTTPS API port, on the Service and the container.
pub const API_PORT: i32 = 9437;
/// The plain-HTTP metrics and health port.
pub const METRICS_PORT: i32 = 9090;

/// The ServiceAccount `<name>`; its token is never mounted (the data plane
/// does not talk to the Kubernetes API).
pub fn service_account(owner: &Owner) -> ServiceAccount {
    ServiceAccount {
        metadata: owner.meta(owner.name.clone(), Component::Api),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// The Service `<name>` with ports `https` 9437 and `metrics` 9090.
pub fn service(owner: &Owner) -> Service {
    let port = |name: &str, port: i32| ServicePort {
        name: Some(name.to_owned()),
        port,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        app_protocol: Some(if name == "https" { "https" } else { "http" }.to_owned()),
        ..ServicePort::default()
    };
    Service {
        metadata: owner.meta(owner.name.clone(), Component::Api),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".to_owned()),
            selector: Some(owner.selector()),
            ports: Some(vec![port("https", API_PORT), port("metrics", METRICS_PORT)]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}
