#!/usr/bin/python3
"""An independent client of reel's public API, in Python, with no generated code.

The message classes come from the server itself through gRPC server reflection (the reflection and
health messages are declared here by hand: Debian ships neither grpc_tools nor grpcio-reflection), and
every call is a generic `channel.unary_unary` / `unary_stream`. It starts the real `reel serve`
(random-weight model, bearer tokens on), then checks health, reflection, authentication, validation,
Submit → Watch → FetchResult (decoded with ffprobe), List, Get, Cancel and idempotency.

usage: python_client_test.py PATH/TO/reel
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

REEL = None  # set from argv
TIMEOUT = 10  # seconds per unary call
F = descriptor_pb2.FieldDescriptorProto


def message_class(pool, name):
    descriptor = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(descriptor)
    return message_factory.MessageFactory(pool).GetPrototype(descriptor)


def add_field(message, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
    field = message.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        field.type_name = type_name
    if oneof is not None:
        field.oneof_index = oneof


def hand_written_pool():
    """grpc.reflection.v1alpha and grpc.health.v1 messages (only the fields used here)."""
    pool = descriptor_pool.DescriptorPool()
    r = descriptor_pb2.FileDescriptorProto(name="reel_test/reflection.proto",
                                           package="grpc.reflection.v1alpha", syntax="proto3")
    req = r.message_type.add(name="ServerReflectionRequest")
    req.oneof_decl.add(name="message_request")
    add_field(req, "host", 1, F.TYPE_STRING)
    add_field(req, "file_by_filename", 3, F.TYPE_STRING, oneof=0)
    add_field(req, "file_containing_symbol", 4, F.TYPE_STRING, oneof=0)
    add_field(req, "list_services", 7, F.TYPE_STRING, oneof=0)
    fdr = r.message_type.add(name="FileDescriptorResponse")
    add_field(fdr, "file_descriptor_proto", 1, F.TYPE_BYTES, F.LABEL_REPEATED)
    svc = r.message_type.add(name="ServiceResponse")
    add_field(svc, "name", 1, F.TYPE_STRING)
    lsr = r.message_type.add(name="ListServiceResponse")
    add_field(lsr, "service", 1, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".grpc.reflection.v1alpha.ServiceResponse")
    err = r.message_type.add(name="ErrorResponse")
    add_field(err, "error_code", 1, F.TYPE_INT32)
    add_field(err, "error_message", 2, F.TYPE_STRING)
    resp = r.message_type.add(name="ServerReflectionResponse")
    resp.oneof_decl.add(name="message_response")
    add_field(resp, "valid_host", 1, F.TYPE_STRING)
    add_field(resp, "original_request", 2, F.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1alpha.ServerReflectionRequest")
    add_field(resp, "file_descriptor_response", 4, F.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1alpha.FileDescriptorResponse", oneof=0)
    add_field(resp, "list_services_response", 6, F.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1alpha.ListServiceResponse", oneof=0)
    add_field(resp, "error_response", 7, F.TYPE_MESSAGE,
              type_name=".grpc.reflection.v1alpha.ErrorResponse", oneof=0)
    pool.Add(r)
    h = descriptor_pb2.FileDescriptorProto(name="reel_test/health.proto", package="grpc.health.v1",
                                           syntax="proto3")
    hreq = h.message_type.add(name="HealthCheckRequest")
    add_field(hreq, "service", 1, F.TYPE_STRING)
    hresp = h.message_type.add(name="HealthCheckResponse")
    add_field(hresp, "status", 1, F.TYPE_INT32)  # the ServingStatus enum; the wire format is the same
    pool.Add(h)
    return pool


class ReelServer:
    """`reel serve` on a free port with its data in a temp dir; stopped with SIGTERM."""

    def __init__(self, tmp, token):
        self.tmp = tmp
        token_file = os.path.join(tmp, "tokens")
        with open(token_file, "w") as f:
            f.write("# test clients\n%s\n" % token)
        port_file = os.path.join(tmp, "port")
        self.log = open(os.path.join(tmp, "serve.log"), "w")
        self.proc = subprocess.Popen(
            [REEL, "serve", "--listen", "127.0.0.1:0", "--data", os.path.join(tmp, "data"), "--model", "random",
             "--threads", "1", "--token_file", token_file, "--port_file", port_file,
             # The internal API on a port of its own (the in-process worker reaches it directly).
             "--worker_listen", "127.0.0.1:0"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline and self.proc.poll() is None:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("reel serve did not start:\n" + open(self.log.name).read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


class PythonClientTest(unittest.TestCase):
    TOKEN = "python-client-token-0123456789"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="reel-pyclient-")
        cls.server = ReelServer(cls.tmp, cls.TOKEN)
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.server.port)
        grpc.channel_ready_future(cls.channel).result(timeout=TIMEOUT)
        cls.hand = hand_written_pool()
        cls.pool = cls.pool_from_reflection()
        cls.M = {name: message_class(cls.pool, "reel.v1." + name) for name in (
            "GenerateRequest", "Job", "GetJobRequest", "ListJobsRequest", "ListJobsResponse",
            "CancelJobRequest", "WatchJobRequest", "JobEvent", "FetchResultRequest", "ResultChunk",
            "ListModelsRequest", "ListModelsResponse")}

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def reflection_call(cls, requests):
        req_cls = message_class(cls.hand, "grpc.reflection.v1alpha.ServerReflectionRequest")
        resp_cls = message_class(cls.hand, "grpc.reflection.v1alpha.ServerReflectionResponse")
        call = cls.channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                         request_serializer=req_cls.SerializeToString,
                                         response_deserializer=resp_cls.FromString)
        return list(call(iter([req_cls(**r) for r in requests]), timeout=TIMEOUT))

    @classmethod
    def pool_from_reflection(cls):
        (resp,) = cls.reflection_call([{"file_containing_symbol": "reel.v1.GenerationService"}])
        files = [descriptor_pb2.FileDescriptorProto.FromString(b)
                 for b in resp.file_descriptor_response.file_descriptor_proto]
        pool = descriptor_pool.DescriptorPool()
        added = set()
        # Add files after their dependencies (reflection sends the file and everything it imports).
        for _ in range(len(files) + 1):
            for f in files:
                if f.name not in added and all(d in added for d in f.dependency):
                    pool.Add(f)
                    added.add(f.name)
        assert len(added) == len(files), "unresolvable imports: %s" % [f.name for f in files]
        return pool

    def unary(self, method, request, response, token=True):
        call = self.channel.unary_unary("/reel.v1.GenerationService/" + method,
                                        request_serializer=request.SerializeToString,
                                        response_deserializer=self.M[response].FromString)
        metadata = [("authorization", "Bearer " + self.TOKEN)] if token else []
        return call(request, timeout=TIMEOUT, metadata=metadata)

    def stream(self, method, request, response, timeout=120):
        call = self.channel.unary_stream("/reel.v1.GenerationService/" + method,
                                         request_serializer=request.SerializeToString,
                                         response_deserializer=self.M[response].FromString)
        return call(request, timeout=timeout, metadata=[("authorization", "Bearer " + self.TOKEN)])

    def health(self, service):
        req = message_class(self.hand, "grpc.health.v1.HealthCheckRequest")(service=service)
        call = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check", request_serializer=req.SerializeToString,
            response_deserializer=message_class(self.hand, "grpc.health.v1.HealthCheckResponse").FromString)
        return call(req, timeout=TIMEOUT).status

    def small_video(self, **extra):
        fields = dict(prompt="a red circle moving left", frames=8, steps=2, width=32, height=32)
        fields.update(extra)
        return self.M["GenerateRequest"](**fields)

    def test_health_is_serving_without_a_token(self):
        self.assertEqual(self.health(""), 1)  # SERVING
        self.assertEqual(self.health("reel.v1.GenerationService"), 1)

    def test_reflection_lists_the_services(self):
        (resp,) = self.reflection_call([{"list_services": ""}])
        names = {s.name for s in resp.list_services_response.service}
        self.assertIn("reel.v1.GenerationService", names)
        # Served on --worker_listen only, so not advertised on the public port.
        self.assertNotIn("reel.v1.WorkerService", names)

    def test_list_models_describes_the_served_model(self):
        deadline = time.time() + TIMEOUT
        while True:  # the in-process worker registers shortly after the port opens
            resp = self.unary("ListModels", self.M["ListModelsRequest"](), "ListModelsResponse")
            if resp.models or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(len(resp.models), 1)
        model = resp.models[0]
        self.assertEqual(model.workers, 1)
        self.assertGreater(model.block_frames, 0)
        self.assertGreater(model.default_steps, 0)
        self.assertEqual(model.attention, "linear")
        self.assertEqual(model.max_side, 1024)

    def test_calls_without_the_token_are_unauthenticated(self):
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("Submit", self.small_video(), "Job", token=False)
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_invalid_requests_name_the_field(self):
        for field, value in (("width", 2048), ("steps", 500), ("priority", 99)):
            req = self.small_video()
            setattr(req, field, value)
            with self.assertRaises(grpc.RpcError) as e:
                self.unary("Submit", req, "Job")
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
            self.assertTrue(e.exception.details().startswith(field + ":"), e.exception.details())
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("Get", self.M["GetJobRequest"](id="j0000000000000000"), "Job")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_submit_watch_fetch(self):
        job = self.unary("Submit", self.small_video(), "Job")
        self.assertTrue(job.id.startswith("j"))
        self.assertTrue(job.request.HasField("seed"))
        Job = self.M["Job"]
        events = list(self.stream("Watch", self.M["WatchJobRequest"](id=job.id, previews=True), "JobEvent"))
        self.assertEqual(events[0].WhichOneof("event"), "snapshot")
        self.assertEqual(events[-1].WhichOneof("event"), "final")
        final = events[-1].final
        self.assertEqual(final.state, Job.State.Value("SUCCEEDED"), final.error.message)
        self.assertGreater(final.progress.total_blocks, 0)
        self.assertEqual(sum(1 for e in events if e.WhichOneof("event") == "preview"), final.progress.total_blocks)
        for e in events:
            if e.WhichOneof("event") == "preview":
                self.assertEqual(e.preview.png[:8], b"\x89PNG\r\n\x1a\n")

        data, offset = b"", 0
        for chunk in self.stream("FetchResult", self.M["FetchResultRequest"](id=job.id, chunk_bytes=4096),
                                 "ResultChunk"):
            self.assertEqual(chunk.offset, offset)
            data += chunk.data
            offset += len(chunk.data)
        self.assertTrue(chunk.last)
        self.assertEqual(len(data), final.result.size_bytes)
        self.assertEqual(data[4:8], b"ftyp")  # an ISO-BMFF (MP4) file
        path = os.path.join(self.tmp, "fetched.mp4")
        with open(path, "wb") as f:
            f.write(data)
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
             "stream=codec_name,nb_read_frames", "-of", "default=nw=1", path],
            capture_output=True, text=True, timeout=60)
        self.assertIn("codec_name=h264", probe.stdout)
        self.assertIn("nb_read_frames=8", probe.stdout)

        listed = self.unary("List", self.M["ListJobsRequest"](page_size=100), "ListJobsResponse")
        self.assertIn(job.id, [j.id for j in listed.jobs])
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("Cancel", self.M["CancelJobRequest"](id=job.id), "Job")
        self.assertEqual(e.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)

    def test_idempotent_submit(self):
        first = self.unary("Submit", self.small_video(idempotency_key="py-key-1"), "Job")
        again = self.unary("Submit", self.small_video(idempotency_key="py-key-1"), "Job")
        self.assertEqual(first.id, again.id)
        with self.assertRaises(grpc.RpcError) as e:
            self.unary("Submit", self.small_video(idempotency_key="py-key-1", steps=3), "Job")
        self.assertEqual(e.exception.code(), grpc.StatusCode.ALREADY_EXISTS)


if __name__ == "__main__":
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        sys.exit("usage: python_client_test.py PATH/TO/reel")
    REEL = sys.argv.pop(1)
    unittest.main(verbosity=2)
