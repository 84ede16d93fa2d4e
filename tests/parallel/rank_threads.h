#pragma once
// Runs a Gloo group of N ranks as threads of the test process, over loopback, with a hard
// deadline: a test that would hang aborts with a message instead.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "pipeline/parallel/gloo_communicator.h"

namespace reel::testing {

// A fresh rendezvous directory, removed at the end of the scope.
class TempRendezvous {
 public:
  TempRendezvous() {
    static int counter = 0;
    path_ =
        std::filesystem::temp_directory_path() /
        absl::StrCat("reel_rdv_", ::getpid(), "_", counter++, "_", absl::ToUnixNanos(absl::Now()));
    std::filesystem::create_directories(path_);
  }
  ~TempRendezvous() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline GroupOptions GroupFor(const std::string& address, int rank, int world,
                             absl::Duration timeout = absl::Seconds(20)) {
  GroupOptions o;
  o.group_id = "test";
  o.rank = rank;
  o.world_size = world;
  o.address = address;
  o.timeout = timeout;
  return o;
}

// body(rank, rendezvous directory) on `world` threads; returns each rank's status. Aborts the
// process if the ranks are not all done within `deadline`.
inline std::vector<absl::Status> RunThreads(
    int world, const std::function<absl::Status(int rank, const std::string& address)>& body,
    absl::Duration deadline = absl::Seconds(120)) {
  TempRendezvous rdv;
  std::vector<std::future<absl::Status>> done;
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    std::packaged_task<absl::Status()> task([&, r] { return body(r, rdv.path()); });
    done.push_back(task.get_future());
    threads.emplace_back(std::move(task));
  }
  const auto until = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(absl::ToInt64Milliseconds(deadline));
  std::vector<absl::Status> statuses;
  for (int r = 0; r < world; ++r) {
    if (done[r].wait_until(until) != std::future_status::ready) {
      std::fprintf(stderr, "rank %d of %d did not finish within %s: aborting the hung test\n", r,
                   world, absl::FormatDuration(deadline).c_str());
      std::abort();
    }
    statuses.push_back(done[r].get());
  }
  for (std::thread& t : threads) t.join();
  return statuses;
}

// body(rank's communicator) on `world` threads of one Gloo group (see RunThreads).
inline std::vector<absl::Status> RunRanks(int world,
                                          const std::function<absl::Status(Communicator&)>& body,
                                          absl::Duration deadline = absl::Seconds(120),
                                          absl::Duration timeout = absl::Seconds(20)) {
  return RunThreads(
      world,
      [&](int r, const std::string& address) -> absl::Status {
        absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm =
            GlooCommunicator::Create(GroupFor(address, r, world, timeout));
        if (!comm.ok()) return comm.status();
        return body(**comm);
      },
      deadline);
}

}  // namespace reel::testing
