// A librdkafka mock cluster in its own process, for fault injection only (it
// does not deduplicate idempotent retries: never use it to prove "no
// duplicates"). Prints "BOOTSTRAP=<addr>" and then reads commands on stdin,
// answering "OK" or "ERR <reason>" to each:
//
//   down <broker|-1>                  broker refuses connections
//   up <broker|-1>                    broker accepts connections again
//   rtt <broker|-1> <ms>              add round-trip delay
//   errors <api key> <err> [err...]   fail the next requests of that API
//   topic <name> <partitions>         create a topic (replication 1)
//   quit                              exit 0
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

void reply(rd_kafka_resp_err_t err)
{
    if (err)
        std::cout << "ERR " << rd_kafka_err2str(err) << std::endl;
    else
        std::cout << "OK" << std::endl;
}

} // namespace

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? std::atoi(argv[1]) : 1;
    if (brokers < 1)
        brokers = 1;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        std::cerr << "mock_broker: " << err << std::endl;
        return 1;
    }
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        std::cerr << "mock_broker: could not create mock cluster" << std::endl;
        return 1;
    }
    std::cout << "BOOTSTRAP=" << rd_kafka_mock_cluster_bootstraps(mc) << std::endl;

    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string cmd;
        if (!(in >> cmd))
            continue;
        if (cmd == "quit")
            break;
        if (cmd == "down" || cmd == "up") {
            int id = -1;
            in >> id;
            reply(cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                                : rd_kafka_mock_broker_set_up(mc, id));
        } else if (cmd == "rtt") {
            int id = -1, ms = 0;
            in >> id >> ms;
            reply(rd_kafka_mock_broker_set_rtt(mc, id, ms));
        } else if (cmd == "errors") {
            int api = -1, code;
            in >> api;
            std::vector<rd_kafka_resp_err_t> errs;
            while (in >> code)
                errs.push_back(static_cast<rd_kafka_resp_err_t>(code));
            if (api < 0 || errs.empty()) {
                std::cout << "ERR usage: errors <api key> <err> [err...]" << std::endl;
                continue;
            }
            rd_kafka_mock_push_request_errors_array(mc, static_cast<int16_t>(api), errs.size(),
                                                    errs.data());
            reply(RD_KAFKA_RESP_ERR_NO_ERROR);
        } else if (cmd == "topic") {
            std::string name;
            int parts = 1;
            in >> name >> parts;
            reply(rd_kafka_mock_topic_create(mc, name.c_str(), parts, 1));
        } else {
            std::cout << "ERR unknown command " << cmd << std::endl;
        }
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
