#pragma once
// Propagation helpers for absl::Status / StatusOr, as in many Abseil-based codebases.
#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define REEL_STATUS_CONCAT_INNER(a, b) a##b
#define REEL_STATUS_CONCAT(a, b) REEL_STATUS_CONCAT_INNER(a, b)

#define REEL_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status reel_status_ = (expr);        \
    if (!reel_status_.ok()) return reel_status_; \
  } while (0)

#define REEL_ASSIGN_OR_RETURN_IMPL(var, lhs, expr) \
  auto var = (expr);                               \
  if (!var.ok()) return var.status();              \
  lhs = *std::move(var)

// REEL_ASSIGN_OR_RETURN(Tensor t, ops::Foo(...));
#define REEL_ASSIGN_OR_RETURN(lhs, expr) \
  REEL_ASSIGN_OR_RETURN_IMPL(REEL_STATUS_CONCAT(reel_statusor_, __LINE__), lhs, expr)
