// Anchor's setup page: reads and saves settings through Anchor's REST endpoint
// (/servicesNS/nobody/anchor/anchor/settings). Secrets are write-only here.
require(["jquery", "splunk.util", "splunkjs/mvc/simplexml/ready!"], function ($, splunkUtil) {
    "use strict";
    var endpoint = splunkUtil.make_url("/splunkd/__raw/servicesNS/nobody/anchor/anchor/settings") + "?output_mode=json";
    var form = $("#anchor-setup");
    var status = $("#anchor-setup-status");

    function show(message, isError) {
        status.text(message).toggleClass("error", Boolean(isError));
    }

    function lookup(data, dotted) {
        return dotted.split(".").reduce(function (value, key) {
            return value === undefined || value === null ? undefined : value[key];
        }, data);
    }

    function fill(settings) {
        form.find("input, select").each(function () {
            var value = lookup(settings, this.name);
            if (this.type !== "password" && value !== undefined && value !== "") {
                $(this).val(value);
            }
        });
        form.find("[data-flag]").each(function () {
            $(this).text(lookup(settings, $(this).data("flag")) ? "stored" : "not set").toggleClass("set", Boolean(lookup(settings, $(this).data("flag"))));
        });
    }

    function collect() {
        var body = {};
        form.find("input, select").each(function () {
            var value = $.trim($(this).val() || "");
            if (this.type === "password" && !value) {
                return; // empty secret: keep the stored one
            }
            var parts = this.name.split(".");
            var target = body;
            if (parts.length === 2) {
                target = body[parts[0]] = body[parts[0]] || {};
            }
            target[parts[parts.length - 1]] = value;
        });
        return body;
    }

    function request(method, body) {
        return $.ajax({
            url: endpoint,
            type: method,
            contentType: "application/json",
            dataType: "json",
            data: body ? JSON.stringify(body) : undefined,
            headers: {"X-Splunk-Form-Key": splunkUtil.getFormKey()}
        });
    }

    function failure(xhr) {
        var answer = xhr.responseJSON || {};
        show(answer.error || ("Request failed (HTTP " + xhr.status + ")"), true);
    }

    request("GET").done(fill).fail(failure);
    form.on("submit", function (event) {
        event.preventDefault();
        show("Saving...");
        request("POST", collect()).done(function (answer) {
            form.find("input[type=password]").val("");
            show("Saved: " + (answer.saved || []).join(", "));
            request("GET").done(fill);
        }).fail(failure);
    });
});
