//! Admission review: a pure function from an AdmissionReview and a policy snapshot to a
//! response.
