#pragma once
// A small Prometheus registry: counters, gauges and histograms rendered in the text exposition
// format (version 0.0.4) for GET /metrics. Series are created once at startup and updated
// lock-free-ish (one mutex per series) from the hot paths.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace reel::service {

class Counter {
 public:
  void Increment(double by = 1.0) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // bounds: the upper bounds of the buckets, increasing (+Inf is implied).
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Buckets growing by `factor` from `start`: start, start*factor, ... (count of them).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  // `labels` is the label set in exposition syntax without braces, e.g. `state="QUEUED"`, or "".
  // The same name with different labels makes one family; help and type come from the first call.
  Counter& AddCounter(const std::string& name, const std::string& help,
                      const std::string& labels = "");
  Gauge& AddGauge(const std::string& name, const std::string& help, const std::string& labels = "");
  Histogram& AddHistogram(const std::string& name, const std::string& help,
                          std::vector<double> bounds, const std::string& labels = "");
  // Called at the start of every Render(), e.g. to set gauges from the job store.
  void AddScrapeHook(std::function<void()> hook);

  std::string Render() const;

 private:
  struct Series {
    std::string labels;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  struct Family {
    std::string help;
    std::string type;  // counter | gauge | histogram
    std::vector<std::unique_ptr<Series>> series;
  };
  Series& AddSeries(const std::string& name, const std::string& help, const std::string& type,
                    const std::string& labels);

  mutable std::mutex mu_;  // guards the maps (not the values)
  std::map<std::string, Family> families_;
  std::vector<std::function<void()>> hooks_;
};

}  // namespace reel::service
