// Draws the results page's events-per-hour chart from the JSON the page carries.
// Chart.js is vendored beside this file (see chart.js-LICENSE.md).
(function () {
  "use strict";
  function draw() {
    var canvas = document.getElementById("events-chart");
    var source = document.getElementById("events-chart-data");
    if (!canvas || !source || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(source.textContent);
    var colours = ["#1f5f8b", "#2e7d32", "#8e44ad", "#b35c00", "#b00020", "#555555"];
    var labels = [];
    for (var hour = 0; hour < data.hours; hour += 1) {
      labels.push(String(hour));
    }
    var datasets = Object.keys(data.series).map(function (name, index) {
      return {
        label: name,
        data: data.series[name],
        borderColor: colours[index % colours.length],
        backgroundColor: colours[index % colours.length],
        borderWidth: 2,
        pointRadius: 0,
        tension: 0.2
      };
    });
    new Chart(canvas, {
      type: "line",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { title: { display: true, text: "Hours since the send started" } },
          y: { beginAtZero: true, title: { display: true, text: "Events" } }
        }
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
