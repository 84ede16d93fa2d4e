// The Communicator operations on a world of 1 (LocalCommunicator) and on Gloo groups of 2–4 ranks
// over loopback (threads of this process): results against closed forms, and the deadline on
// every call when a peer is gone.
#include "pipeline/parallel/communicator.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "gtest/gtest.h"
#include "pipeline/parallel/gloo_communicator.h"
#if REEL_HAVE_NCCL
#include "pipeline/parallel/nccl_communicator.h"
#endif
#include "pipeline/parallel/tcp_store.h"
#include "tests/parallel/rank_threads.h"

namespace reel {
namespace {

using testing::GroupFor;
using testing::RunRanks;
using testing::TempRendezvous;

Tensor Filled(const Shape& shape, float base) {
  std::vector<float> v(NumElements(shape));
  for (size_t i = 0; i < v.size(); ++i) v[i] = base + static_cast<float>(i);
  return *Tensor::FromVector(shape, v);
}

#define RETURN_IF_NOT_OK(expr)                         \
  do {                                                 \
    if (absl::Status s_ = (expr); !s_.ok()) return s_; \
  } while (0)

absl::Status Expect(bool ok, const std::string& what) {
  return ok ? absl::OkStatus() : absl::InternalError(what);
}

TEST(LocalCommunicator, CollectivesAreIdentities) {
  LocalCommunicator local;
  Tensor t = Filled({2, 3}, 1.0f);
  Tensor* ts[] = {&t};
  EXPECT_TRUE(local.AllReduceSum(ts).ok());
  EXPECT_TRUE(local.AllScan(ts).ok());
  EXPECT_TRUE(local.Broadcast(t, 0).ok());
  EXPECT_TRUE(local.Barrier().ok());
  EXPECT_EQ(*t.ToVector(), *Filled({2, 3}, 1.0f).ToVector());
  Tensor out = *Tensor::Zeros({6});
  const int64_t counts[] = {6};
  ASSERT_TRUE(local.AllGather(t, counts, out).ok());
  EXPECT_EQ(*out.ToVector(), *t.ToVector());
  EXPECT_EQ(local.Send(t, 0).code(), absl::StatusCode::kInvalidArgument)
      << "no peer in a world of 1";
  EXPECT_EQ(local.Broadcast(t, 1).code(), absl::StatusCode::kInvalidArgument);
  Tensor strided = *Filled({2, 3}, 0.0f).Permute({1, 0});
  Tensor* bad[] = {&strided};
  EXPECT_EQ(local.AllReduceSum(bad).code(), absl::StatusCode::kInvalidArgument);
}

class GlooWorld : public ::testing::TestWithParam<int> {};

// Every operation of `c` (rank c.rank() of c.world_size()) against its closed form: the same
// checks for every backend.
absl::Status CheckClosedForms(Communicator& c) {
  const int r = c.rank(), world = c.world_size();
  // AllReduceSum of two tensors: Σ_q (base_q + i).
  Tensor a = Filled({3, 4}, static_cast<float>(r)), b = Filled({5}, 10.0f * r);
  Tensor* ab[] = {&a, &b};
  RETURN_IF_NOT_OK(c.AllReduceSum(ab));
  const float rs = world * (world - 1) / 2.0f;
  RETURN_IF_NOT_OK(Expect(a.ToVector()->at(7) == rs + world * 7.0f, "allreduce a"));
  RETURN_IF_NOT_OK(Expect(b.ToVector()->at(2) == 10.0f * rs + world * 2.0f, "allreduce b"));
  // Uneven AllGather: rank q gives q + 1 values q·100 + i.
  std::vector<int64_t> counts;
  int64_t total = 0;
  for (int q = 0; q < world; ++q) counts.push_back(q + 1), total += q + 1;
  Tensor out = *Tensor::Zeros({total});
  RETURN_IF_NOT_OK(c.AllGather(Filled({r + 1}, 100.0f * r), counts, out));
  std::vector<float> expected;
  for (int q = 0; q < world; ++q) {
    for (int i = 0; i <= q; ++i) expected.push_back(100.0f * q + i);
  }
  RETURN_IF_NOT_OK(Expect(*out.ToVector() == expected, "allgather"));
  // Broadcast from the last rank.
  Tensor x = Filled({4}, static_cast<float>(r));
  RETURN_IF_NOT_OK(c.Broadcast(x, world - 1));
  RETURN_IF_NOT_OK(Expect(x.ToVector()->at(0) == world - 1.0f, "broadcast"));
  // Ring exchange with both neighbours (the halo pattern); a world of 1 has no neighbour.
  if (world == 1) return c.Barrier();
  const int next = (r + 1) % world, prev = (r + world - 1) % world;
  Tensor mine = Filled({2, 2}, static_cast<float>(r)), from_prev = *Tensor::Zeros({2, 2}),
         from_next = *Tensor::Zeros({2, 2});
  if (world == 2) {
    const SendTo s[] = {{next, &mine}};
    const RecvFrom rv[] = {{prev, &from_prev}};
    RETURN_IF_NOT_OK(c.Exchange(s, rv));
    from_next = from_prev;
  } else {
    const SendTo s[] = {{next, &mine}, {prev, &mine}};
    const RecvFrom rv[] = {{prev, &from_prev}, {next, &from_next}};
    RETURN_IF_NOT_OK(c.Exchange(s, rv));
  }
  RETURN_IF_NOT_OK(Expect(from_prev.ToVector()->at(0) == prev, "exchange prev"));
  RETURN_IF_NOT_OK(Expect(from_next.ToVector()->at(0) == next, "exchange next"));
  // AllScan: rank r ends with Σ_{q≤r} (q + i).
  Tensor s1 = Filled({3}, static_cast<float>(r)), s2 = Filled({2, 2}, 1.0f);
  Tensor* ss[] = {&s1, &s2};
  RETURN_IF_NOT_OK(c.AllScan(ss));
  RETURN_IF_NOT_OK(Expect(s1.ToVector()->at(1) == r * (r + 1) / 2.0f + (r + 1) * 1.0f, "scan"));
  RETURN_IF_NOT_OK(Expect(s2.ToVector()->at(3) == (r + 1) * 4.0f, "scan 2"));
  return c.Barrier();
}

TEST_P(GlooWorld, EveryOperationMatchesItsClosedForm) {
  const int world = GetParam();
  const std::vector<absl::Status> statuses = RunRanks(world, [&](Communicator& c) -> absl::Status {
    RETURN_IF_NOT_OK(Expect(c.world_size() == world, "world size"));
    return CheckClosedForms(c);
  });
  for (int r = 0; r < world; ++r)
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
}

#if REEL_HAVE_NCCL
// NCCL: the same closed forms with one rank per visible GPU (up to 4; NCCL refuses two ranks of a
// group on one device), Gloo as the bootstrap; on a single GPU a world of one. Skips, saying why,
// where no GPU is visible (this CPU machine).
TEST(NcclWorld, EveryOperationMatchesItsClosedForm) {
  const absl::StatusOr<int> devices = NcclCommunicator::DeviceCount();
  if (!devices.ok() || *devices == 0) {
    GTEST_SKIP() << "NCCL needs a CUDA device: "
                 << (devices.ok() ? "none visible" : std::string(devices.status().message()));
  }
  const int world = std::min(*devices, 4);
  const std::vector<absl::Status> statuses =
      RunRanks(world, [&](Communicator& bootstrap) -> absl::Status {
        absl::StatusOr<std::unique_ptr<NcclCommunicator>> nccl =
            NcclCommunicator::Create(bootstrap, bootstrap.rank(), absl::Seconds(60));
        if (!nccl.ok()) return nccl.status();
        RETURN_IF_NOT_OK(Expect((*nccl)->world_size() == world, "world size"));
        return CheckClosedForms(**nccl);
      });
  for (int r = 0; r < world; ++r)
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
}
#endif

INSTANTIATE_TEST_SUITE_P(Ranks, GlooWorld, ::testing::Values(2, 3, 4));

// A port nothing listens on right now (the kernel's pick for an ephemeral bind).
int FreePort() {
  absl::StatusOr<std::unique_ptr<TcpStoreServer>> probe = TcpStoreServer::Start("127.0.0.1", 0);
  return probe.ok() ? (*probe)->port() : 0;
}

TEST(TcpStore, SetClaimGetAndWaitingGets) {
  absl::StatusOr<std::unique_ptr<TcpStoreServer>> server = TcpStoreServer::Start("127.0.0.1", 0);
  ASSERT_TRUE(server.ok()) << server.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  auto a = TcpStoreClient::Connect("127.0.0.1", (*server)->port(), deadline);
  auto b = TcpStoreClient::Connect("127.0.0.1", (*server)->port(), deadline);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(*(*a)->Claim("k", "1", deadline));
  EXPECT_FALSE(*(*b)->Claim("k", "2", deadline)) << "a second claim is refused";
  EXPECT_EQ(**(*b)->TryGet("k", deadline), "1");
  EXPECT_FALSE((*b)->TryGet("missing", deadline)->has_value());
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_TRUE((*a)->Set("later", std::string("x\0y", 3), deadline).ok());
  });
  EXPECT_EQ(*(*b)->Get("later", deadline), std::string("x\0y", 3)) << "Get waits for the Set";
  setter.join();
  EXPECT_EQ((*b)->Get("never", absl::Now() + absl::Milliseconds(200)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST(GlooOverTcpStore, EveryOperationWorksAndBadInputIsClear) {
  // The same group over a HOST:PORT rendezvous that rank 0 serves (no shared directory).
  const std::string address = absl::StrCat("127.0.0.1:", FreePort());
  const int world = 3;
  std::vector<absl::Status> statuses(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      absl::StatusOr<std::unique_ptr<GlooCommunicator>> c =
          GlooCommunicator::Create(GroupFor(address, r, world, absl::Seconds(20)));
      if (!c.ok()) {
        statuses[r] = c.status();
        return;
      }
      Tensor t = Filled({4}, static_cast<float>(r));
      Tensor* ts[] = {&t};
      statuses[r] = (*c)->AllReduceSum(ts);
      if (statuses[r].ok() && t.ToVector()->at(1) != 3.0f + 3.0f) {
        statuses[r] = absl::InternalError("allreduce");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int r = 0; r < world; ++r) EXPECT_TRUE(statuses[r].ok()) << r << ": " << statuses[r];

  // Nobody serves the rendezvous (no rank 0): rank 1 gives up at its timeout.
  const auto start = std::chrono::steady_clock::now();
  const absl::Status nowhere =
      GlooCommunicator::Create(
          GroupFor(absl::StrCat("127.0.0.1:", FreePort()), 1, 2, absl::Seconds(1)))
          .status();
  EXPECT_EQ(nowhere.code(), absl::StatusCode::kUnavailable) << nowhere;
  EXPECT_NE(nowhere.message().find("is unreachable"), std::string::npos) << nowhere;
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 5);

  // Mismatched world sizes over TCP.
  const std::string mismatch = absl::StrCat("127.0.0.1:", FreePort());
  absl::Status s1;
  std::thread t1(
      [&] { s1 = GlooCommunicator::Create(GroupFor(mismatch, 1, 3, absl::Seconds(5))).status(); });
  const absl::Status s0 =
      GlooCommunicator::Create(GroupFor(mismatch, 0, 2, absl::Seconds(5))).status();
  t1.join();
  EXPECT_EQ(s0.code(), absl::StatusCode::kInvalidArgument) << s0;
  // Rank 1 sees the mismatch too, or loses the store when rank 0 gives up first.
  EXPECT_TRUE(s1.code() == absl::StatusCode::kInvalidArgument ||
              s1.code() == absl::StatusCode::kUnavailable)
      << s1;
}

TEST(Gloo, AGoneRankIsAnErrorWithinTheTimeoutNotAHang) {
  // Rank 1 joins and leaves; rank 0's next collective must fail within the 2 s deadline.
  const auto start = std::chrono::steady_clock::now();
  const std::vector<absl::Status> statuses = RunRanks(
      2,
      [](Communicator& c) -> absl::Status {
        if (c.rank() == 1) return absl::OkStatus();  // destroys its communicator
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        Tensor t = Filled({16}, 1.0f);
        Tensor* ts[] = {&t};
        return c.AllReduceSum(ts);
      },
      absl::Seconds(30), absl::Seconds(2));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(statuses[1].ok());
  EXPECT_FALSE(statuses[0].ok());
  EXPECT_NE(statuses[0].message().find("AllReduceSum failed on rank 0 of 2"), std::string::npos)
      << statuses[0];
  EXPECT_LT(seconds, 10.0);
}

TEST(Gloo, AHungRankIsADeadlineError) {
  const std::vector<absl::Status> statuses = RunRanks(
      2,
      [](Communicator& c) -> absl::Status {
        Tensor t = Filled({16}, 1.0f);
        if (c.rank() == 1) {  // alive but never answers until rank 0 gave up
          std::this_thread::sleep_for(std::chrono::seconds(3));
          return absl::OkStatus();
        }
        return c.Recv(t, 1);
      },
      absl::Seconds(30), absl::Seconds(1));
  EXPECT_EQ(statuses[0].code(), absl::StatusCode::kDeadlineExceeded) << statuses[0];
}

TEST(GlooRendezvous, BadInputIsAClearErrorNotAHang) {
  {  // mismatched world sizes
    TempRendezvous rdv;
    absl::Status s0, s1;
    std::thread t([&] {
      s1 = GlooCommunicator::Create(GroupFor(rdv.path(), 1, 3, absl::Seconds(5))).status();
    });
    s0 = GlooCommunicator::Create(GroupFor(rdv.path(), 0, 2, absl::Seconds(5))).status();
    t.join();
    EXPECT_EQ(s0.code(), absl::StatusCode::kInvalidArgument) << s0;
    EXPECT_NE(s0.message().find("mismatched world sizes"), std::string::npos) << s0;
    EXPECT_EQ(s1.code(), absl::StatusCode::kInvalidArgument) << s1;
  }
  {  // duplicate ranks
    TempRendezvous rdv;
    absl::Status s0, s1;
    std::thread t([&] {
      s0 = GlooCommunicator::Create(GroupFor(rdv.path(), 0, 2, absl::Seconds(2))).status();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    s1 = GlooCommunicator::Create(GroupFor(rdv.path(), 0, 2, absl::Seconds(2))).status();
    t.join();
    EXPECT_EQ(s1.code(), absl::StatusCode::kAlreadyExists) << s1;
    EXPECT_NE(s1.message().find("duplicate rank"), std::string::npos) << s1;
    EXPECT_EQ(s0.code(), absl::StatusCode::kDeadlineExceeded) << s0;  // rank 1 never came
  }
  {  // wrong group id: both wait for the other's group, then name the missing rank
    TempRendezvous rdv;
    absl::Status s0;
    GroupOptions other = GroupFor(rdv.path(), 1, 2, absl::Seconds(1));
    other.group_id = "another";
    std::thread t([&] { (void)GlooCommunicator::Create(other); });
    s0 = GlooCommunicator::Create(GroupFor(rdv.path(), 0, 2, absl::Seconds(1))).status();
    t.join();
    EXPECT_EQ(s0.code(), absl::StatusCode::kDeadlineExceeded) << s0;
    EXPECT_NE(s0.message().find("rank(s) 1 of 2 did not join"), std::string::npos) << s0;
  }
  {  // unreachable rendezvous, bad rank, bad group id
    const GroupOptions nowhere = GroupFor("/nonexistent/reel/rendezvous", 0, 2);
    EXPECT_EQ(GlooCommunicator::Create(nowhere).status().code(), absl::StatusCode::kUnavailable);
    TempRendezvous rdv;
    EXPECT_EQ(GlooCommunicator::Create(GroupFor(rdv.path(), 2, 2)).status().code(),
              absl::StatusCode::kInvalidArgument);
    GroupOptions slash = GroupFor(rdv.path(), 0, 1);
    slash.group_id = "../x";
    EXPECT_EQ(GlooCommunicator::Create(slash).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace reel
