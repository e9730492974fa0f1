//! The optional Ingress in front of the API. The backend speaks HTTPS only,
//! so the Ingress is told to re-encrypt.

use std::collections::BTreeMap;

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::meta::{Component, Owner};
use crate::crd::RustyMailSpec;

/// Tells ingress-nginx to speak HTTPS to the pods.
const BACKEND_PROTOCOL: &str = "nginx.ingress.kubernetes.io/backend-protocol";

/// The Ingress `<name>`, only when `spec.ingress` is set.
pub fn ingress(owner: &Owner, spec: &RustyMailSpec) -> Option<Ingress> {
    let ing = spec.ingress.as_ref()?;
    let mut metadata = owner.meta(owner.name.clone(), Component::Api);
    let mut annotations = BTreeMap::from([(BACKEND_PROTOCOL.to_owned(), "HTTPS".to_owned())]);
    annotations.extend(ing.annotations.clone());
    metadata.annotations = Some(annotations);
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: ing.class_name.clone(),
            tls: Some(vec![IngressTLS {
                hosts: Some(vec![ing.host.clone()]),
                secret_name: Some(
                    ing.tls_secret_name
                        .clone()
                        .unwrap_or_else(|| owner.child_name("-ingress-tls")),
                ),
            }]),
            rules: Some(vec![IngressRule {
                host: Some(ing.host.clone()),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".to_owned()),
                        path_type: "Prefix".to_owned(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: owner.name.clone(),
                                port: Some(ServiceBackendPort {
                                    name: Some("https".to_owned()),
                                    ..ServiceBackendPort::default()
                                }),
                            }),
                            ..IngressBackend::default()
                        },
                    }],
                }),
            }]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    })
}
