//! The admission webhook: AdmissionActor, the HTTPS server and TLS material.
