//! What every step of a reconcile's decision reads: the owner's names, where
//! the certificate comes from and the isolation lever, worked out once from
//! the observation.

use k8s_openapi::api::core::v1::Secret;

use super::{
    Observation, Plan, access,
    certificate::{CertificateInputs, certificate_state},
    references::{self, Problem},
};
use crate::{
    controller::status::CertificateState,
    error::Error,
    kinds::Kind,
    render::{Child, ChildKey, Owner, TlsPlan, tls},
};

/// The fixed facts of one reconcile.
pub(super) struct Frame {
    /// The RustyMail's names.
    pub(super) owner: Owner,
    /// Where the certificate comes from and which Secret holds it.
    pub(super) tls_plan: TlsPlan,
    /// `spec.tls.renewBefore`.
    renew_before: std::time::Duration,
    /// The problem of the issuer `spec.tls.issuerRef` names, were it missing.
    pub(super) missing_issuer: Option<Problem>,
    /// What the isolation lever asks of the NetworkPolicy.
    pub(super) isolation: access::Isolation,
}

impl Frame {
    /// The frame of `obs`; fails when the spec's names or durations are unusable.
    pub(super) fn of(obs: &Observation) -> Result<Self, Error> {
        let rm = obs.rm.as_ref();
        let owner = Owner::of(rm)?;
        let (_, renew_before) = tls::lifetimes(&rm.spec)?;
        Ok(Self {
            tls_plan: TlsPlan::of(&owner, &rm.spec),
            renew_before,
            missing_issuer: rm
                .spec
                .tls
                .issuer_ref
                .as_ref()
                .map(|issuer| references::missing_issuer(issuer, &owner.namespace)),
            isolation: access::isolation(obs, &owner),
            owner,
        })
    }

    /// The certificate's state with `secret` as the Secret the pods mount.
    pub(super) fn certificate_state(
        &self,
        obs: &Observation,
        secret: Option<&Secret>,
    ) -> CertificateState {
        let certificate = match obs.children.get(&ChildKey {
            kind: Kind::Certificate,
            name: self.owner.child_name("-tls"),
        }) {
            Some(Child::Certificate(c)) => Some(c),
            _ => None,
        };
        let inputs = CertificateInputs {
            plan: &self.tls_plan,
            apis: obs.apis,
            issuer_ref: obs.rm.spec.tls.issuer_ref.as_ref(),
            issuer: &obs.issuer,
            certificate,
            secret,
            renew_before: self.renew_before,
            now: obs.now,
        };
        let missing_issuer = self
            .missing_issuer
            .as_ref()
            .map(|p| p.message.as_str())
            .unwrap_or_default();
        certificate_state(&inputs, missing_issuer)
    }

    /// `plan`, which changes no child, with the isolation lever applied and
    /// the levers announced: how a Degraded or paused reconcile ends.
    pub(super) fn hold(self, obs: &Observation, plan: Plan) -> Plan {
        let mut plan = access::with_isolation(plan, self.isolation);
        access::announce(obs, &self.owner, &mut plan);
        plan
    }
}
