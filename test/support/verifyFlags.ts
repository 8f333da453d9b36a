// verify's flags for a quick run against a server the test makes: short polls, a short stall and
// timeout, no conntrack (the test's connections are on loopback, not through a NAT).
export const FAST_VERIFY = [
  "--interval-seconds",
  "0.2",
  "--stall-seconds",
  "1.5",
  "--timeout-seconds",
  "12",
  "--conntrack",
  "none",
];
